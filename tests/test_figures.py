"""The confusion heat map: letters on both axes, darker cells for larger counts."""

import numpy as np

from letterlab.evaluation.figures import confusion_image, image_to_png


def test_confusion_image_shades_cells_by_count():
    confusion = np.zeros((10, 10), dtype=int)
    confusion[2, 7] = 50  # one dark cell: true C read as H
    pixels = confusion_image(confusion, "title")
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    cell, left, top = 34, 58, 52  # the layout confusion_image draws
    centre = lambda row, column: pixels[top + row * cell + 3, left + column * cell + 3].astype(int)
    assert centre(2, 7).sum() < centre(7, 2).sum() - 200  # the counted cell is much darker than an empty one
    assert np.array_equal(centre(0, 0), centre(9, 9))  # empty cells look alike
    assert image_to_png(pixels)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_heat_map_logged_with_add_rgb_image_reads_back_pixel_for_pixel(tmp_path):
    import io

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from letterlab.evaluation.epoch_hooks import add_rgb_image
    from letterlab.training.writers import open_writer

    pixels = confusion_image(np.arange(100).reshape(10, 10), "validation, epoch 2")
    writer = open_writer(tmp_path)
    add_rgb_image(writer, "val/confusion", pixels, 2)
    writer.close()
    (logged,) = EventAccumulator(str(tmp_path), size_guidance={"images": 0}).Reload().Images("val/confusion")
    assert (logged.step, logged.height, logged.width) == (2, *pixels.shape[:2])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(logged.encoded_image_string))), pixels)
