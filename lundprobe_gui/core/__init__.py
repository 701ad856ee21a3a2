"""lundprobe_gui.core"""
