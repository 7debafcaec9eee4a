"""Motion or appearance: does a video model decide on what is there, or on how it moves?

    counterfactual.py  motion-removing counterfactual clips (reversed, temporally smoothed, static)
    reliance.py        motion_reliance / reliance_batch: the score split into order, motion and
                       appearance along clip -> reversed -> static -> chance, and the kind it rests on
    flow.py            dis_flow: OpenCV DIS optical flow, cached per clip; frame_motion
    moving.py          moving_share: the share of positive relevance on moving voxels
    streams.py         a two-stream model's flow stream as a VideoModel; explain_flow_stream
    split.py           a relevance map split per voxel into spatial + temporal parts (exactly):
                       registered variants (selective: Hiley et al. 2020; counterfactual:
                       R(x) - R(static x); reversed: R(x) - R(reversed x) played back)
"""
from .split import Split, get_split, list_splits, register_split, split_batch, split_relevance

__all__ = ["Split", "get_split", "list_splits", "register_split", "split_batch", "split_relevance"]
