"""Motion or appearance: does a video model decide on what is there, or on how it moves?

    counterfactual.py  motion-removing counterfactual clips (reversed, temporally smoothed, static)
"""
