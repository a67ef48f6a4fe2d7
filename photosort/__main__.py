"""photosort's command line; with no command, the desktop app (arriving with the GUI issue)."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


class ProgressLine:
    """A one-line progress report on stderr: done / total, rate and time left, redrawn at most 10 times a second."""

    REDRAW_INTERVAL_S = 0.1

    def __init__(self, label: str, unit: str = "MB", scale: float = 1e6):
        self.label, self.unit, self.scale = label, unit, scale
        self.started = time.monotonic()
        self.last_drawn = 0.0

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        now = time.monotonic()
        if now - self.last_drawn < self.REDRAW_INTERVAL_S and done != total:
            return
        self.last_drawn = now
        digits = 0 if self.scale == 1 else 1
        rate = done / self.scale / max(now - self.started, 1e-9)
        text = f"\r{self.label}: {done / self.scale:.{digits}f}"
        if total:
            left = (total - done) / self.scale / rate if rate > 0 else 0
            text += f" / {total / self.scale:.{digits}f} {self.unit} ({100 * done / total:.0f}%), " \
                    f"{rate:.1f} {self.unit}/s, {left:.0f} s left"
        else:
            text += f" {self.unit}, {rate:.1f} {self.unit}/s"
        print(text + (f", {note}" if note else "") + "\x1b[K", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def _models_list(_: argparse.Namespace) -> int:
    from .clip import MODELS, RECOMMENDED_MODEL, available_models, local_models
    from .clip.install import installed_path

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
    from .clip import model_path

    progress = ProgressLine(f"downloading {args.name}")
    try:
        path = model_path(args.name, progress=progress)
    finally:
        progress.close()
    print(path)
    return 0


def _models_import(args: argparse.Namespace) -> int:
    from .clip import import_checkpoint

    name = import_checkpoint(args.file, name=args.as_name, activation=args.activation)
    print(f"imported as model {name!r}")
    return 0


LOSS_LOG_EVERY = 200  # training steps between the lines that stay on screen


def _train_tiny(args: argparse.Namespace) -> int:
    """Train the bundled demo model from its fixed seed, then report its quality on held-out pictures."""
    from dataclasses import replace
    from pathlib import Path

    from .clip import load, shapes, train

    plan = train.TrainingPlan()
    overrides = {name: value for name, value in (("seed", args.seed), ("steps", args.steps),
                                                 ("pictures_per_kind", args.pictures_per_kind)) if value}
    plan = replace(plan, **overrides)
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
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB)")
    loaded, preprocess = load(out, device="cpu")
    for label, distribution in (("held-out", shapes.TRAINING), ("shifted", shapes.SHIFTED)):
        quality = train.evaluate(loaded, preprocess, shapes.held_out_set(args.eval_seed, 10, distribution))
        print(f"{label}: colour {quality.colour_accuracy:.3f}  shape {quality.shape_accuracy:.3f}  "
              f"count {quality.count_accuracy:.3f}  precision@5 {quality.precision_at_5:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photosort", description="Offline photo organizer built on CLIP.")
    parser.add_argument("--version", action="version", version=f"photosort {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    trainer.add_argument("--out", default="models/tiny-shapes.pt")
    trainer.add_argument("--seed", type=int, help="training seed (default: the bundled model's)")
    trainer.add_argument("--steps", type=int, help="optimiser steps (default: the bundled model's)")
    trainer.add_argument("--pictures-per-kind", type=int, help="training pool size per colour-shape-count kind")
    trainer.add_argument("--eval-seed", type=int, default=7, help="seed of the held-out evaluation pictures")
    trainer.set_defaults(run=_train_tiny)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        print("\nThe desktop app is not built yet; the commands above work today.", file=sys.stderr)
        return 0
    from .clip import ClipError

    try:
        return args.run(args)
    except ClipError as error:
        print(f"photosort: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("photosort: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
