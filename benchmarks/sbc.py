"""Simulation-based calibration of the spherical mixture's NUTS posterior (Talts et al. 2018).

Draws parameters and data from probkm's shared-sigma spherical mixture with a fixed prior,
fits NUTS to each simulated data set, and tests the ranks of the true parameters among the
posterior draws for uniformity (chi-square per scalar, Bonferroni over scalars). Writes
``sbc_ranks.png`` (rank histograms per parameter group) and ``sbc.json`` (settings, p-values,
pass/fail and the ranks) into ``--out``.

    python benchmarks/sbc.py [--simulations 200] [--out sbc-output] [--force]

Exit status 0 when every scalar passes, 1 when any fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from probkm.studies.calibration import LABELINGS, plot_sbc_ranks, simulation_based_calibration  # noqa: E402
from probkm.reporting.outputs import prepare_output_dir, write_figure, write_text  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=200, help="simulated data sets (default 200)")
    parser.add_argument("--obs", type=int, default=50, help="points per data set, N (default 50)")
    parser.add_argument("--components", type=int, default=3, help="mixture components, K (default 3)")
    parser.add_argument("--dim", type=int, default=2, help="features, D (default 2)")
    parser.add_argument("--warmup", type=int, default=500, help="NUTS warmup iterations (default 500)")
    parser.add_argument("--samples", type=int, default=1000, help="NUTS post-warmup iterations (default 1000)")
    parser.add_argument("--thin", type=int, default=10, help="keep every THIN-th draw (default 10)")
    parser.add_argument("--bins", type=int, default=None, help="chi-square bins (default: 10, fewer for few simulations)")
    parser.add_argument("--alpha", type=float, default=0.01, help="family-wise level, Bonferroni over scalars (default 0.01)")
    parser.add_argument("--labeling", choices=LABELINGS, default="truth", help="how draws are labelled (default truth)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="sbc-output", help="output folder (default sbc-output)")
    parser.add_argument("--force", action="store_true", help="empty --out first if it holds files")
    args = parser.parse_args(argv)

    out = prepare_output_dir(args.out, force=args.force)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {done}/{total} simulations, {time.perf_counter() - start:.0f} s", flush=True)

    result = simulation_based_calibration(
        args.simulations, n_obs=args.obs, n_components=args.components, n_dim=args.dim,
        num_warmup=args.warmup, num_samples=args.samples, thin=args.thin, random_state=args.seed,
        progress=progress, labeling=args.labeling, n_bins=args.bins, alpha=args.alpha,
    )
    elapsed = time.perf_counter() - start
    summary = {**result.to_dict(), "seconds": round(elapsed, 1)}
    write_text(out / "sbc.json", json.dumps(summary, indent=2) + "\n")
    write_figure(out / "sbc_ranks.png", plot_sbc_ranks(result))

    print(f"{args.simulations} simulations in {elapsed:.0f} s; threshold p < {result.threshold:.2g} fails")
    for name, p, ok in zip(result.names, result.p_values, result.passed):
        print(f"  {name:12s} p = {p:.3f}  {'ok' if ok else 'FAIL'}")
    print(f"divergent transitions: {int(result.divergences.sum())} in {int((result.divergences > 0).sum())} simulations")
    print(f"wrote {out / 'sbc.json'} and {out / 'sbc_ranks.png'}")
    return 0 if result.all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
