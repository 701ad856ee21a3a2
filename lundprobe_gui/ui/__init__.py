"""lundprobe_gui.ui"""
