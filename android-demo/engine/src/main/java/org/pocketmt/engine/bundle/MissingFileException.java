package org.pocketmt.engine.bundle;

/** A folder, the manifest or a file the manifest lists is not there. */
public final class MissingFileException extends BundleException {
    public MissingFileException(String message) {
        super(message);
    }
}
