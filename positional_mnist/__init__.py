"""Positional MNIST: one stretched MNIST digit per 64x64 image, with its label and box.

Modules, one concept each:
  config        DatasetConfig, the checked settings of one writing run
  mnist_source  loading MNIST from .npz, IDX files or the Keras cache
  placement     cropping, stretching and placing one digit on the canvas
  schema        the record format shared by writer and reader
  tfrecord      GZIP TFRecord framing without TensorFlow
  layout        shard file names and dataset.json
  writer        sharded, parallel, deterministic writing
  reader        tf.data reading (imports TensorFlow)
  samples       a 10x10 picture of records (imports TensorFlow)

Importing the package imports neither TensorFlow nor the writer.
"""

from positional_mnist.errors import DatasetError

__all__ = ["DatasetError"]
