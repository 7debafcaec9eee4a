"""Motion or appearance: does a video model decide on what is there, or on how it moves?

    counterfactual.py  motion-removing counterfactual clips (reversed, temporally smoothed, static)
    split.py           a relevance map split per voxel into spatial + temporal parts (exactly):
                       registered variants (selective: Hiley et al. 2020; counterfactual)
"""
