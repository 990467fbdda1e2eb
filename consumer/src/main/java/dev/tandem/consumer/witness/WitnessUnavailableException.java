package dev.tandem.consumer.witness;

/** The witness could not be reached, or answered with an error; no lease was granted or renewed. */
public class WitnessUnavailableException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  public WitnessUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
