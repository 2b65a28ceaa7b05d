#!/usr/bin/env bash
# The built-in example, end to end, offline: build a store from scikit-learn's digits with
# 7 tabular base models, then report, search, optimise, stack, compare every candidate (which
# blend to submit, and how good that choice honestly is) and write the submissions.
#
#   bash examples/demo.sh [STORE_DIR]        (default: demo-store)
#
# Set WITH_IMAGE=1 to also train a small timm CNN on the digit images (needs the [vision] extra).
set -euo pipefail
store="${1:-demo-store}"
ex="$store/example"        # written by `base-models demo`: features, test labels, sample submission
out="${store%/}-results"   # every output goes beside the store: commands never write into one
mkdir -p "$out"
# colour only on a terminal, and never with NO_COLOR set (`demo.sh dir > log` has no escape codes)
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
else
    step() { printf '\n==> %s\n' "$*"; }
fi

step "base-models demo $store   (build the store: 7 models x 5 folds, real OOF + test predictions)"
base-models demo "$store" ${WITH_IMAGE:+--with-image}

step "blend report $store --by ink --html $out/report.html"
blend report "$store" --by ink --html "$out/report.html" --json "$out/report.json" --noise-csv "$out/noise.csv"

step "blend search $store --top 10 --nested   (every subset of models, with the selection's nested-CV score)"
blend search "$store" --top 10 --nested --json "$out/search.json" --save-recipe "$out/search-recipe.json"

step "blend optimize $store --method de --rule logit --from-search $out/search.json   (weights, nested CV)"
blend optimize "$store" --method de --rule logit --from-search "$out/search.json" --rank 1 \
    --json "$out/optimize.json" --recipe "$out/optimize-recipe.json"

step "stack lgbm $store   (a second-level model, nested CV; written back as model 'stack_lgbm')"
stack lgbm "$store" --name stack_lgbm --overwrite --json "$out/stack.json"

step "blend compare $store --recipe $out/compare-recipe.json   (what to submit: every candidate under the same folds, the choice itself scored doubly nested)"
blend compare "$store" --json "$out/compare.json" --recipe "$out/compare-recipe.json" --overwrite

step "blend apply $out/compare-recipe.json --store $store --out $out/submission.csv --sample-submission $ex/sample_submission.csv"
blend apply "$out/compare-recipe.json" --store "$store" --out "$out/submission.csv" \
    --sample-submission "$ex/sample_submission.csv"

step "blend apply $out/optimize-recipe.json --store $store --out $out/submission-optimize.csv   (the DE blend, for contrast)"
blend apply "$out/optimize-recipe.json" --store "$store" --out "$out/submission-optimize.csv" \
    --sample-submission "$ex/sample_submission.csv"

python3 - "$ex/test_labels.csv" "$out/submission.csv" "$out/submission-optimize.csv" <<'PY'
import sys
import pandas as pd
truth = pd.read_csv(sys.argv[1])
print()
for path in sys.argv[2:]:
    sub = pd.read_csv(path)
    merged = sub.merge(truth, on="id", suffixes=("_pred", ""))
    acc = (merged.iloc[:, 1].astype(str) == merged["label"].astype(str)).mean()
    print(f"submission {path}: {len(sub)} rows; accuracy on the held-out test labels: {acc:.4f}")
n = len(truth)
se = (0.97 * 0.03 / n) ** 0.5
print(
    f"\nHow to read these two numbers: {n} test rows are a noisy estimate. At about 97% accuracy "
    f"one row is {100 / n:.2f} points and the standard error is about {se:.4f} "
    f"({se * n:.0f} rows), so a gap of 2-3 rows between the two files is chance. The honest "
    "figure for what to expect is the procedure score `blend compare` printed (the choice "
    "itself scored doubly nested on the training rows); the recommendation is the file whose "
    "expected score you can trust, even when another file happens to do better on these rows."
)
PY
