package org.pocketmt.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void jsonOnClasspath() throws Exception {
        assertEquals(1, new org.json.JSONObject("{\"a\":1}").getInt("a"));
    }
}
