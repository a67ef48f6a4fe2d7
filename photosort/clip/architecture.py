"""Facts of CLIP's architecture that the torch model (photosort.clip.model) and the numpy text tower
(photosort.clip.text_tower) share; torch-free, so that the text tower can import them."""

HEAD_WIDTH = 64  # every CLIP model uses 64-wide attention heads
MLP_RATIO = 4  # hidden width of each Transformer MLP, relative to the model width
QUICK_GELU_ALPHA = 1.702  # the sigmoid approximation of GELU that OpenAI's models were trained with
LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, which every CLIP LayerNorm uses
