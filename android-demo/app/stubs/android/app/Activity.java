// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
// (The real Activity extends ContextThemeWrapper -> ContextWrapper -> Context.)
package android.app;

import java.io.File;

public class Activity extends android.content.Context {
    protected void onCreate(android.os.Bundle savedInstanceState) {}

    protected void onDestroy() {}

    public void setContentView(android.view.View view) {}

    public final void runOnUiThread(Runnable action) {}

    public boolean isFinishing() {
        return false;
    }

    @Override
    public android.content.res.AssetManager getAssets() {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public File getFilesDir() {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public File getCacheDir() {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public File getExternalFilesDir(String type) {
        throw new UnsupportedOperationException("stub");
    }
}
