// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.view;

public class View {
    public View(android.content.Context context) {}

    public interface OnClickListener {
        void onClick(View v);
    }

    public void setOnClickListener(OnClickListener l) {}

    public void setPadding(int left, int top, int right, int bottom) {}

    public void setEnabled(boolean enabled) {}
}
