// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.content;

import java.io.File;

public abstract class Context {
    public abstract android.content.res.AssetManager getAssets();

    public abstract File getFilesDir();

    public abstract File getCacheDir();

    public abstract File getExternalFilesDir(String type);
}
