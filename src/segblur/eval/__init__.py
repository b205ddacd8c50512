"""Scoring without torch: confusion-matrix metrics and boundary F1 (:mod:`.metrics`), the evaluation of any
model or folder of predictions on dataset splits (:mod:`.evaluation`), and prediction mask files
(:mod:`.predictions`)."""
