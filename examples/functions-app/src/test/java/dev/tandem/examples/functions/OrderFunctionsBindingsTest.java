package dev.tandem.examples.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.microsoft.azure.functions.ExecutionContext;
import com.microsoft.azure.functions.annotation.FunctionName;
import com.microsoft.azure.functions.annotation.TimerTrigger;
import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;

/** The bindings the Functions host reads from the annotations (the Maven plugin turns them into function.json). */
class OrderFunctionsBindingsTest {

  @Test
  void theHeartbeatIsATimerFunctionRunningEveryFiveSeconds() throws Exception {
    Method m = OrderFunctions.class.getMethod("heartbeat", String.class, ExecutionContext.class);
    assertEquals("tandem-heartbeat", m.getAnnotation(FunctionName.class).value());
    TimerTrigger timer = m.getParameters()[0].getAnnotation(TimerTrigger.class);
    assertNotNull(timer, "the first parameter is the timer trigger");
    // NCRONTAB with seconds: {second} {minute} {hour} {day} {month} {day-of-week}
    assertEquals("0/5 * * * * *", timer.schedule());
  }
}
