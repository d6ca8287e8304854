// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

import java.util.List;

public class ArrayAdapter<T> extends BaseAdapter {
    public ArrayAdapter(android.content.Context context, int resource, List<T> objects) {}

    public void setDropDownViewResource(int resource) {}
}
