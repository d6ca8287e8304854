package org.pocketmt.engine.bundle;

/** A file's size or sha256 differs from the manifest's: truncated, replaced or corrupted. */
public final class AlteredFileException extends BundleException {
    public AlteredFileException(String message) {
        super(message);
    }
}
