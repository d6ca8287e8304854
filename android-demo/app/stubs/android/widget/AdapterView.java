// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

public abstract class AdapterView<T> extends android.view.ViewGroup {
    public AdapterView(android.content.Context context) {
        super(context);
    }

    public int getSelectedItemPosition() {
        return -1;
    }

    public void setSelection(int position) {}

    public abstract void setAdapter(T adapter);
}
