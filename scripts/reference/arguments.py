"""Command-line value checks shared by the PyTorch reference scripts: a bad value stops argparse with the
option's name and exit code 2, as nin's own options do."""
import argparse
import math
import os


def whole_number(name, low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number from {low} to {high}")
        return value
    return parse


def positive_number(name, high):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 < value <= high:  # also false for NaN
            raise argparse.ArgumentTypeError(f"{name} must be a number above 0 and at most {high}")
        return value
    return parse


def cores():
    """The cores this process may run on (taskset narrows them), what --threads 0 means."""
    return len(os.sched_getaffinity(0))
