// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

public class TextView extends android.view.View {
    public TextView(android.content.Context context) {
        super(context);
    }

    public final void setText(CharSequence text) {}

    public CharSequence getText() {
        throw new UnsupportedOperationException("stub");
    }

    public final void setHint(CharSequence hint) {}

    public void setTextSize(float size) {}

    public void setTextIsSelectable(boolean selectable) {}

    public void setMinLines(int minLines) {}

    public void setInputType(int type) {}
}
