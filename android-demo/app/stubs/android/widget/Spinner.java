// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
// (The real Spinner extends AbsSpinner, an AdapterView<SpinnerAdapter>.)
package android.widget;

public class Spinner extends AdapterView<SpinnerAdapter> {
    public Spinner(android.content.Context context) {
        super(context);
    }

    @Override
    public void setAdapter(SpinnerAdapter adapter) {}
}
