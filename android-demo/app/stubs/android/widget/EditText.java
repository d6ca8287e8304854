// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

public class EditText extends TextView {
    public EditText(android.content.Context context) {
        super(context);
    }

    @Override
    public android.text.Editable getText() {
        throw new UnsupportedOperationException("stub");
    }
}
