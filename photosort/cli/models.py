"""The command line for models: `models list|download|import`, and `train-tiny` (the bundled demo model)."""

from __future__ import annotations

import argparse
import sys
import time

from .progress import ProgressLine


def add_commands(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list, download or import CLIP checkpoints")
    model_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    model_commands.add_parser("list", help="known models and where they are installed").set_defaults(run=_models_list)
    download = model_commands.add_parser("download", help="download a published model")
    download.add_argument("name")
    download.set_defaults(run=_models_download)
    importer = model_commands.add_parser("import", help="copy a checkpoint file you have into the models folder")
    importer.add_argument("file")
    importer.add_argument("--as", dest="as_name", metavar="NAME", help="the published model this file is")
    importer.add_argument("--activation", choices=["quick_gelu", "gelu"],
                          help="for a model of your own: QuickGELU (OpenAI-style, the default) or GELU (open_clip)")
    importer.set_defaults(run=_models_import)

    trainer = commands.add_parser("train-tiny", help="train the bundled tiny-shapes demo model from its seed")
    trainer.add_argument("--out", default="photosort/models/tiny-shapes.pt")
    trainer.add_argument("--seed", type=int, help="training seed (default: the bundled model's)")
    trainer.add_argument("--steps", type=int, help="optimiser steps (default: the bundled model's)")
    trainer.add_argument("--pictures-per-kind", type=int, help="training pool size per colour-shape-count kind")
    trainer.add_argument("--eval-seed", type=int, default=7, help="seed of the held-out evaluation pictures")
    # 40 per colour-shape pair: 1,280 pictures, so the printed accuracy is good to about +-0.01.
    trainer.add_argument("--eval-per-pair", type=int, default=40, help="evaluation pictures per colour-shape pair")
    trainer.set_defaults(run=_train_tiny)


def _models_list(_: argparse.Namespace) -> int:
    from ..clip import MODELS, RECOMMENDED_MODEL, available_models, local_models
    from ..clip.install import installed_path

    local = local_models()
    for name in available_models():
        info = MODELS.get(name)
        path = local.get(name) or installed_path(name)
        state = f"installed: {path}" if path else "not downloaded"
        quality = f"{info.imagenet_top1:.1f}% ImageNet zero-shot" if info and info.imagenet_top1 else ""
        mark = " (recommended)" if name == RECOMMENDED_MODEL else ""
        print("  ".join(part for part in (f"{name}{mark}", quality, state) if part))
    return 0


def _models_download(args: argparse.Namespace) -> int:
    from ..clip import model_path

    progress = ProgressLine(f"downloading {args.name}")
    try:
        path = model_path(args.name, progress=progress)
    finally:
        progress.close()
    print(path)
    return 0


def _models_import(args: argparse.Namespace) -> int:
    from ..clip import import_checkpoint

    name = import_checkpoint(args.file, name=args.as_name, activation=args.activation)
    print(f"imported as model {name!r}")
    return 0


LOSS_LOG_EVERY = 200  # training steps between the lines that stay on screen


def _train_tiny(args: argparse.Namespace) -> int:
    """Train the bundled demo model from its fixed seed, then report its quality on held-out pictures."""
    from dataclasses import replace
    from pathlib import Path

    from ..clip import load, shapes, train

    plan = train.TrainingPlan()
    overrides = {name: value for name, value in (("seed", args.seed), ("steps", args.steps),
                                                 ("pictures_per_kind", args.pictures_per_kind)) if value}
    plan = replace(plan, **overrides)
    started = time.monotonic()
    print(f"rendering {len(shapes.all_scene_kinds()) * plan.pictures_per_kind} training pictures…", file=sys.stderr)
    pool = train.render_pool(plan)
    progress = ProgressLine("training", unit="steps", scale=1)

    def report(step: train.StepReport) -> None:
        progress(step.step, step.steps, f"loss {step.loss:.3f}")
        if step.step % LOSS_LOG_EVERY == 0 or step.step == step.steps:
            progress.close()
            print(f"step {step.step}/{step.steps}  loss {step.loss:.3f}  logit scale {step.logit_scale:.1f}  "
                  f"{step.seconds:.0f} s", file=sys.stderr)

    model = train.train(plan, report, pool)
    progress.close()
    out = Path(args.out)
    train.save_checkpoint(model, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) after {(time.monotonic() - started) / 60:.1f} min")
    loaded, preprocess = load(out, device="cpu")
    for label, distribution in (("held-out", shapes.TRAINING), ("shifted", shapes.SHIFTED)):
        pictures = shapes.held_out_set(args.eval_seed, args.eval_per_pair, distribution)
        quality = train.evaluate(loaded, preprocess, pictures)
        print(f"{label} ({len(pictures)} pictures): colour {quality.colour_accuracy:.3f}  "
              f"shape {quality.shape_accuracy:.3f}  count {quality.count_accuracy:.3f}  "
              f"precision@5 {quality.precision_at_5:.3f}")
    return 0
