"""lundprobe_gui.study"""
