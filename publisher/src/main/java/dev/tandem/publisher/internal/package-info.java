/**
 * Machinery of the publisher module: not API. Classes here are public only because
 * {@code dev.tandem.publisher} uses them; they may change or move in any release.
 */
package dev.tandem.publisher.internal;
