"""The published checkpoints photosort knows by name: where each comes from and how to check it."""

from __future__ import annotations

from dataclasses import dataclass

OPENAI_URL = "https://openaipublic.azureedge.net/clip/models/{sha256}/{file}"
HUB_URL = "https://huggingface.co/{repo}/resolve/{commit}/{file}"
ACTIVATIONS = ("quick_gelu", "gelu")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    url: str
    filename: str  # the name it is stored under in a models folder
    activation: str  # cannot be read from the weights: OpenAI's models use QuickGELU, open_clip's GELU
    sha256: str | None  # None where none is published: the URL pins an immutable commit instead
    imagenet_top1: float | None = None  # zero-shot ImageNet accuracy, in percent
    description: str = ""
    size_mb: int | None = None  # the download, in MB (10^6 bytes; OpenAI's files are 244-1262 MiB)
    image_gflops: float | None = None  # the cost of one photo: what indexing speed follows


def _openai(name: str, sha256: str, file: str, top1: float | None, size_mb: int, gflops: float) -> ModelInfo:
    return ModelInfo(
        name=name, url=OPENAI_URL.format(sha256=sha256, file=file), filename=file, activation="quick_gelu",
        sha256=sha256, imagenet_top1=top1, description="OpenAI CLIP", size_mb=size_mb, image_gflops=gflops,
    )


def _hub(name: str, repo: str, commit: str, file: str, filename: str, top1: float, description: str,
         sha256: str | None = None, size_mb: int = 605, gflops: float = 8.8) -> ModelInfo:
    return ModelInfo(
        name=name, url=HUB_URL.format(repo=repo, commit=commit, file=file), filename=filename,
        activation="gelu", sha256=sha256, imagenet_top1=top1, description=description, size_mb=size_mb,
        image_gflops=gflops,
    )


_MODELS = [
    _openai("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
            "RN50.pt", 59.6, 256, 12.2),
    _openai("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
            "RN101.pt", None, 292, 19.5),
    _openai("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
            "RN50x4.pt", None, 422, 42.6),
    _openai("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
            "RN50x16.pt", None, 661, 149.4),
    _openai("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
            "RN50x64.pt", None, 1323, 529.1),
    _openai("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
            "ViT-B-32.pt", 63.3, 354, 8.8),
    _openai("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            "ViT-B-16.pt", 68.3, 351, 35.1),
    _openai("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
            "ViT-L-14.pt", 75.5, 933, 162.0),
    _openai("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
            "ViT-L-14-336px.pt", None, 934, 381.9),
    # open_clip checkpoints of the same architectures, trained on larger open data sets (plain GELU).
    _hub("ViT-B-32-256/datacomp_s34b_b86k", "laion/CLIP-ViT-B-32-256x256-DataComp-s34B-b86K",
         "4b3890bbe4997a7457562fae281bb98a7374a8ae", "open_clip_model.safetensors",
         "ViT-B-32-256-datacomp_s34b_b86k.safetensors", 72.8,
         "open_clip ViT-B/32 at 256 px trained on DataComp-1B: the best quality for its speed", gflops=11.5),
    # No commit is pinned for these two yet (none could be looked up offline): the laion2b file is pinned by
    # its checksum instead (605,143,316 bytes, the size of a ViT-B/32 safetensors); the datacomp_xl one by
    # neither, so it relies on the hub's TLS and safetensors' refusal to run code.
    _hub("ViT-B-32/datacomp_xl_s13b_b90k", "laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K", "main",
         "open_clip_model.safetensors", "ViT-B-32-datacomp_xl_s13b_b90k.safetensors", 69.2,
         "open_clip ViT-B/32 trained on DataComp-XL"),
    _hub("ViT-B-32/laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "main",
         "open_clip_model.safetensors", "ViT-B-32-laion2b_s34b_b79k.safetensors", 66.6,
         "open_clip ViT-B/32 trained on LAION-2B",
         sha256="ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6"),
]

MODELS: dict[str, ModelInfo] = {info.name: info for info in _MODELS}

RECOMMENDED_MODEL = "ViT-B-32-256/datacomp_s34b_b86k"

