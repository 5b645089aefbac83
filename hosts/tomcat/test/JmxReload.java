import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * Invokes the listener's JMX reload operation (org.gpcguard:type=GpcGuard) over a local JMX port
 * and prints "reloaded" or "failed: <message>", then the LastReloadError attribute. Run as a
 * single-file program: java JmxReload.java PORT
 */
public final class JmxReload {
    public static void main(String[] args) throws Exception {
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + args[0] + "/jmxrmi");
        try (JMXConnector c = JMXConnectorFactory.connect(url)) {
            MBeanServerConnection mbs = c.getMBeanServerConnection();
            ObjectName name = new ObjectName("org.gpcguard:type=GpcGuard");
            try {
                mbs.invoke(name, "reload", new Object[0], new String[0]);
                System.out.println("reloaded");
            } catch (Exception e) {
                Throwable t = e;
                while (t.getCause() != null) {
                    t = t.getCause();
                }
                System.out.println("failed: " + t.getMessage());
            }
            System.out.println("LastReloadError=" + mbs.getAttribute(name, "LastReloadError"));
        }
    }
}
