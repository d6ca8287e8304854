// COMPILE-ONLY STUB of the Android SDK class of this name (signatures from developer.android.com), never shipped.
package android.widget;

public interface SpinnerAdapter {}
