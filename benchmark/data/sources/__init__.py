"""The datasets themselves, one module per on-disk format; importing registers them all."""

from benchmark.data.sources import caltech, cifar, imagefolder, mnist, packaged

__all__ = ["caltech", "cifar", "imagefolder", "mnist", "packaged"]
