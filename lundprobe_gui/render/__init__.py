"""lundprobe_gui.render: numpy in, uint8 out.

Everything the viewer draws is computed here, free of Qt:

``slicing``
    display order of the three views, display <-> voxel maps, pixel aspect, orientation letters.
``window``
    grey-level windowing and presets.
``colormaps``
    dose wash, uncertainty heat map, colour bars, structure colours.
``overlay``
    outlines, fills, isodose lines, cropped dose/uncertainty layers, fusion.
``compose``
    the layer compositor producing the RGB uint8 image the view shows.
"""
