// COMPILE-ONLY STUB of org.pytorch.executorch.Module (executorch-android 1.3.0 / 1.4.1), never shipped.
package org.pytorch.executorch;

import java.io.Closeable;

public class Module implements Closeable {
    public static final int LOAD_MODE_FILE = 0;
    public static final int LOAD_MODE_MMAP = 1;
    public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
    public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

    private Module() {}

    public static Module load(String modelPath, int loadMode) {
        throw new UnsupportedOperationException("compile-only stub: no ExecuTorch native library here");
    }

    public static Module load(String modelPath) {
        return load(modelPath, LOAD_MODE_FILE);
    }

    public EValue[] execute(String methodName, EValue... inputs) {
        throw new UnsupportedOperationException("compile-only stub");
    }

    public void loadMethod(String methodName) {
        throw new UnsupportedOperationException("compile-only stub");
    }

    public String[] getMethods() {
        throw new UnsupportedOperationException("compile-only stub");
    }

    public void destroy() {}

    @Override
    public void close() {}
}
