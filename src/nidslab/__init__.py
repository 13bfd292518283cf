"""nidslab: deep networks that tell benign network traffic from Mirai botnet traffic.

Built around the Kitsune Mirai capture (Mirsky et al., NDSS 2018). See README.md for a tour.
"""

__version__ = "0.1.0"
