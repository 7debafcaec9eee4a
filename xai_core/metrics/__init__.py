"""Which explanation to believe: metrics of relevance maps over video (N, C, T, H, W), hand-written
(Quantus and its kin reject 5-D inputs).

    deletion.py      deletion / insertion curves + AUC vs a random order (Petsiuk et al. 2018, RISE),
                     voxel or frame order; fill.py: temporal_mean (default), grey, blur
    ground_truth.py  pointing game (Zhang et al. 2018), energy in the evidence mask
    evidence_kind.py motion reliance's kind vs the procedural clip's kind
    sanity.py        cascading model randomisation (Adebayo et al. 2018): Spearman + SSIM per layer
    stability.py     Spearman across seeds for stochastic methods
    faithfulness.py  completeness gap (integrated gradients)
    evaluate.py      all of them for a model x methods on procedural clips, cached (cache.py);
                     verdicts.py: the figures in words and the table; cli.py: python -m xai_core evaluate

Modules are imported on use (`from xai_core.metrics.deletion import deletion`): importing this
package loads nothing.
"""
