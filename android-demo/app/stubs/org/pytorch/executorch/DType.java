// COMPILE-ONLY STUB of org.pytorch.executorch.DType (executorch-android 1.3.0 / 1.4.1), never shipped.
package org.pytorch.executorch;

public enum DType {
    UINT8, INT8, INT16, INT32, INT64, HALF, FLOAT, DOUBLE
}
