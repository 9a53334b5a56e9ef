"""Raster map tiles of imagery epochs (heritage monitoring): 256-pixel PNG or JPEG tiles of a
registered epoch's COG (ingest/imagery.py) read with rio-tiler, in WebMercatorQuad.

The COG is web-optimised (aligned to the tile grid) so a tile is read from the overview of its
zoom without resampling across overviews. Readers are kept open (a COG's header and overview
offsets are read once). Bands: the first three as red, green, blue; ``bands=4,1,2`` gives a
false-colour view (NIR, red, green) where the epoch has a near-infrared band.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import morecantile
import rasterio
from rasterio.io import DatasetReader
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


class OutsideImage(LookupError):
    """The tile does not touch the image (a 404 of the route)."""


class MissingImage(LookupError):
    """The epoch's COG is not in the imagery folder (moved, or a database restored elsewhere)."""


class ImageryTiles:
    """Tiles of the COGs under one folder, with an LRU of open readers."""

    def __init__(self, folder: Path, keep_open: int = 32):
        self.folder = folder
        self.keep_open = keep_open
        self._readers: OrderedDict[str, Reader] = OrderedDict()
        self._datasets: dict[str, DatasetReader] = {}
        self._lock = threading.Lock()

    def _reader(self, rel: str) -> Reader:
        with self._lock:
            found = self._readers.get(rel)
            if found is not None:
                self._readers.move_to_end(rel)
                return found
        # the dataset opened here, not by the reader's context stack: a reader is opened on a worker
        # thread and closed at shutdown on another, where rasterio's thread-local environment that
        # the context would exit does not exist (EnvError); closing a dataset needs none
        if not (self.folder / rel).is_file():
            raise MissingImage(f"{rel} is not in the imagery folder {self.folder} (URBANGIS_HERITAGE_IMAGERY_DIR): "
                               "register the epoch's image again")
        dataset = rasterio.open(self.folder / rel)
        reader = Reader(str(self.folder / rel), dataset=dataset, tms=WEB_MERCATOR)
        with self._lock:
            self._readers[rel] = reader
            self._datasets[rel] = dataset
            while len(self._readers) > self.keep_open:
                old, _ = self._readers.popitem(last=False)
                self._datasets.pop(old).close()
        return reader

    def tile(self, rel: str, z: int, x: int, y: int, fmt: str = "png", bands: tuple[int, ...] = (1, 2, 3)) -> bytes:
        """The image tile (z, x, y) of the COG ``rel``; OutsideImage when the tile misses it.
        Pixels outside the image are transparent in PNG and WebP (the COG's mask)."""
        reader = self._reader(rel)
        try:
            img = reader.tile(x, y, z, indexes=bands)
        except TileOutsideBounds:
            raise OutsideImage(f"tile {z}/{y}/{x} does not touch the image") from None
        driver, _ = FORMATS[fmt]
        if driver == "JPEG":
            return img.render(img_format=driver, add_mask=False)
        return img.render(img_format=driver)

    def view(self, rel: str, bbox: tuple[float, float, float, float], size: int = 256,
             bands: tuple[int, ...] = (1, 2, 3)) -> bytes:
        """A PNG of the COG ``rel`` over ``bbox`` (lon/lat degrees), at most ``size`` pixels a side."""
        reader = self._reader(rel)
        img = reader.part(bbox, dst_crs="EPSG:3857", bounds_crs="EPSG:4326", max_size=size, indexes=bands)
        return img.render(img_format="PNG")

    def close(self) -> None:
        with self._lock:
            for dataset in self._datasets.values():
                dataset.close()
            self._readers.clear()
            self._datasets.clear()
