"""Motion or appearance: does a video model decide on what is there, or on how it moves?

    counterfactual.py  motion-removing counterfactual clips (reversed, temporally smoothed, static)
    reliance.py        motion_reliance / reliance_batch: the score split into order, motion and
                       appearance along clip -> reversed -> static -> chance, and the kind it rests on
"""
