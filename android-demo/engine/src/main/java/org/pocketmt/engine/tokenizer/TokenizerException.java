package org.pocketmt.engine.tokenizer;

/** A tokenizer file that cannot be read or used; the message is one line, like runtime/errors.BundleError. */
public class TokenizerException extends Exception {
    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
