// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.text;

public interface InputType {
    int TYPE_CLASS_TEXT = 0x00000001;
    int TYPE_TEXT_FLAG_MULTI_LINE = 0x00020000;
    int TYPE_TEXT_VARIATION_URI = 0x00000010;
}
