package org.pocketmt.engine;

/** Where one translation's time went (milliseconds) and how many decoder steps it took. */
public record Timings(double tokenizeMs, double encodeMs, double decodeMs, double totalMs, int steps) {
    public static final Timings NONE = new Timings(0, 0, 0, 0, 0);
}
