"""Flow colours (Middlebury coding), the colour-wheel legend, and relevance drawn on the flow field."""
import numpy as np
import pytest

from xai_core.render.flow import flow_legend, flow_relevance_frames, flow_to_rgb, flow_tube


def colour(dx, dy, max_flow=1.0):
    return flow_to_rgb(np.array([[[dx, dy]]], np.float32), max_flow)[0, 0].astype(int)


def test_directions_have_the_middlebury_hues():
    """Right red, down orange-yellow (y points down), left cyan-blue, up blue-violet; still white."""
    assert colour(1, 0).tolist() == [255, 0, 0]
    r, g, b = colour(0, 1)
    assert r == 255 and 180 < g < 255 and b == 0
    r, g, b = colour(-1, 0)
    assert r == 0 and g > 150 and b == 255
    r, g, b = colour(0, -1)
    assert 50 < r < 120 and g == 0 and b == 255
    assert colour(0, 0).tolist() == [255, 255, 255]


def test_magnitude_is_saturation_up_to_max_flow_then_darker():
    half, full, beyond = colour(0.5, 0), colour(1, 0), colour(2, 0)
    assert half.tolist() == [255, 128, 128]                   # half way from white to red
    assert full.tolist() == [255, 0, 0] and beyond.tolist() == [191, 0, 0]   # 75% beyond max_flow
    assert colour(4, 0, max_flow=4).tolist() == [255, 0, 0]   # the scale is max_flow


def test_legend_matches_the_flow_colours():
    size = 65
    legend = flow_legend(size, max_flow=2.0)
    c = 32
    assert legend.shape == (size, size, 3) and legend.dtype == np.uint8
    assert legend[c, size - 1].tolist() == colour(2, 0, 2).tolist() == [255, 0, 0]   # rightward: red
    assert legend[size - 1, c].tolist() == colour(0, 2, 2).tolist()                  # downward
    assert legend[c, 0].tolist() == colour(-2, 0, 2).tolist()                        # leftward
    assert legend[c, c].tolist() == [255, 255, 255] and legend[0, 0].tolist() == [255, 255, 255]


def test_default_scale_is_the_99th_percentile():
    flow = np.zeros((1, 10, 10, 2), np.float32)
    flow[0, :, :, 0] = np.linspace(0, 3, 100).reshape(10, 10)
    image = flow_to_rgb(flow)
    assert image[0, -1, -1].tolist() == [191, 0, 0]           # the largest, above the 99th percentile
    assert image[0, 0, 0].tolist() == [255, 255, 255]


def test_relevance_weights_the_flow_colours_over_grey():
    flow = np.zeros((2, 4, 4, 2), np.float32)
    flow[..., 0] = 1.0                                        # everything moves right
    R = np.zeros((2, 4, 4), np.float32)
    assert (flow_relevance_frames(flow, R) == 128).all()      # no relevance: grey, nothing drawn
    R[1, 2, 3], R[0, 0, 0] = 4.0, 2.0
    R[0, 1, 1] = -9.0                                         # evidence against: not drawn
    out = flow_relevance_frames(flow, R, max_flow=1.0, scale=4.0)
    assert out[1, 2, 3].tolist() == [255, 0, 0]               # the top relevance: the full flow colour
    assert out[0, 0, 0].tolist() == [192, 64, 64]             # half of it: half way from grey
    assert out[0, 1, 1].tolist() == [128, 128, 128]



def test_one_extreme_voxel_does_not_wash_out_the_rest():
    """The default scale is the 99.5th percentile of the positive relevance, not its maximum."""
    flow = np.zeros((2, 20, 20, 2), np.float32)
    flow[..., 0] = 1.0
    R = np.ones((2, 20, 20), np.float32)
    R[0, 3, 3] = 1000.0                                        # 1 voxel of 800
    out = flow_relevance_frames(flow, R, max_flow=1.0)
    assert (out.reshape(-1, 3) == [255, 0, 0]).all()


def test_frames_give_the_background_and_the_size():
    flow = np.zeros((2, 4, 4, 2), np.float32)
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[..., 1] = 200                                       # green: BT.601 gray 117.4
    out = flow_relevance_frames(flow, np.zeros((2, 4, 4)), frames, dim=0.5)
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(out, np.full_like(out, round(0.587 * 200 * 0.5 + 64)))
    R = np.ones((2, 2, 2), np.float32)                          # coarser relevance: resized onto the flow
    assert flow_relevance_frames(flow, R, frames).min() == 255  # all relevant, all still: white


@pytest.mark.parametrize("flow, relevance, message", [
    (np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), r"flow must be \(..., H, W, 2\)"),
    (np.zeros((2, 4, 4, 2)), np.zeros((3, 4, 4)), "the same T-1"),
])
def test_bad_shapes_are_refused(flow, relevance, message):
    with pytest.raises(ValueError, match=message):
        flow_relevance_frames(flow, relevance)


def test_bad_frames_and_scales_are_refused():
    flow = np.zeros((2, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"frames must be \(3 or 2, h, w, 3\) uint8"):
        flow_relevance_frames(flow, np.zeros((2, 4, 4)), np.zeros((5, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="max_flow must be a positive number"):
        flow_to_rgb(flow, max_flow=0.0)
    with pytest.raises(ValueError, match="size must be an integer >= 8"):
        flow_legend(4)


def test_tube_of_the_flow_field():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(5, 16, 16, 2)).astype(np.float32)
    image = flow_tube(flow, rng.random((5, 16, 16)).astype(np.float32), width=400)
    assert image.ndim == 3 and image.shape[1] == 400 and image.dtype == np.uint8
