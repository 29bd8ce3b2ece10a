"""A rate-limited, lossy uplink for a phone in a namespace of the test's own: it lives in
bench/shaped_link.py, which the weak-link benchmark shares (bench/ never imports tests/)."""

from bench.shaped_link import PROFILE as PROFILE
from bench.shaped_link import ShapedLink as ShapedLink
from bench.shaped_link import Step as Step
from bench.shaped_link import shaped_namespace as shaped_namespace
