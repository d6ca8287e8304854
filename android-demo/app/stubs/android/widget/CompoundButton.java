// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

public abstract class CompoundButton extends Button {
    public CompoundButton(android.content.Context context) {
        super(context);
    }

    public boolean isChecked() {
        return false;
    }
}
