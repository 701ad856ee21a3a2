"""lundprobe_gui.io"""
