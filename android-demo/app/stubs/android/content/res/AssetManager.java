// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.content.res;

import java.io.IOException;
import java.io.InputStream;

public final class AssetManager {
    private AssetManager() {}

    public String[] list(String path) throws IOException {
        throw new UnsupportedOperationException("stub");
    }

    public InputStream open(String fileName) throws IOException {
        throw new UnsupportedOperationException("stub");
    }
}
