import java.util.Set;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * Invokes the listener's JMX reload operation (org.gpcguard:type=GpcGuard) over a local JMX port
 * and prints "reloaded" or "failed: <message>", then the LastReloadError attribute. With a name
 * pattern and an operation, invokes that operation (no arguments) on each matching MBean instead
 * and prints "invoked OPERATION on NAME" (e.g. Tomcat's reloadSslHostConfigs). Run as a
 * single-file program: java JmxReload.java PORT [NAME-PATTERN OPERATION]
 */
public final class JmxReload {
    public static void main(String[] args) throws Exception {
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + args[0] + "/jmxrmi");
        try (JMXConnector c = JMXConnectorFactory.connect(url)) {
            MBeanServerConnection mbs = c.getMBeanServerConnection();
            if (args.length == 3) {
                Set<ObjectName> names = mbs.queryNames(new ObjectName(args[1]), null);
                if (names.isEmpty()) {
                    System.out.println("no MBean matches " + args[1]);
                    System.exit(1);
                }
                for (ObjectName name : names) {
                    mbs.invoke(name, args[2], new Object[0], new String[0]);
                    System.out.println("invoked " + args[2] + " on " + name);
                }
                return;
            }
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
