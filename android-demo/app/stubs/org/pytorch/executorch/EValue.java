// COMPILE-ONLY STUB of org.pytorch.executorch.EValue (executorch-android 1.3.0 / 1.4.1), never shipped.
// Behaves like the real class for tensors: it keeps the tensor it was made from.
package org.pytorch.executorch;

public class EValue {
    private final Tensor tensor;

    private EValue(Tensor tensor) {
        this.tensor = tensor;
    }

    public static EValue from(Tensor tensor) {
        return new EValue(tensor);
    }

    public boolean isTensor() {
        return tensor != null;
    }

    public Tensor toTensor() {
        if (tensor == null) {
            throw new IllegalStateException("Expected EValue type Tensor");
        }
        return tensor;
    }
}
