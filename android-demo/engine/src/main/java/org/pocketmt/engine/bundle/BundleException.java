package org.pocketmt.engine.bundle;

import org.pocketmt.engine.PocketMtException;

/** The bundle is missing, incomplete, altered, malformed or too new; subclasses say which. */
public class BundleException extends PocketMtException {
    public BundleException(String message) {
        super(message);
    }
}
