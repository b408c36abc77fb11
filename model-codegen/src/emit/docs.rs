//! Hand-written prose of the generated service docs: one sentence for each of the most-used
//! services and each of their methods. The model itself carries only structure, so the
//! meaning is written here, in this project's own words, and emitted by `emit::services`.
//!
//! Methods of kind get, list, add, update and remove get a sentence built from the
//! service's noun ([`ServiceDoc::what`]); actions and alternative parameter sets
//! (signatures) have a sentence of their own in [`METHODS`] (by service and SDK method
//! name), or in [`SHARED_METHODS`] (by SDK method name, for every service listed here).

use crate::ir::MethodKind;

/// The prose of one service.
pub struct ServiceDoc {
    /// Model name of the service (`vms`).
    pub name: &'static str,
    /// What the service stands for, as a noun phrase after "the" (`virtual machines of
    /// the system`); the templates of get/list/add/update/remove use it.
    pub what: &'static str,
    /// One sentence on what the service is for.
    pub about: &'static str,
}

macro_rules! services {
    ($($name:literal, $what:literal, $about:literal;)*) => {
        &[$(ServiceDoc { name: $name, what: $what, about: $about }),*]
    };
}

/// The services documented by hand: the ones scripts use most.
pub const SERVICES: &[ServiceDoc] = services![
    "system", "engine's API entry point", "The root of every path: the engine's product and version information, a summary of its objects, and the locators of every top-level collection.";
    "vms", "virtual machines", "All virtual machines the user may see; search them, or create one from a template, a snapshot or an exported configuration.";
    "vm", "virtual machine", "One virtual machine: read and change its configuration, run it (start, stop, shut down, migrate), and reach its disks, NICs and snapshots.";
    "disks", "disks", "Every virtual disk of the system, attached to a VM or not; also where a floating disk or a direct LUN is created.";
    "disk", "disk", "One virtual disk: its size, format and status; copy, move, export or sparsify it.";
    "disk_attachments", "disk attachments of the VM", "The disks a VM uses, each with how it is plugged in (interface, bootable, active); adding one attaches an existing disk or creates a new one for the VM.";
    "disk_attachment", "disk attachment", "How one disk is attached to a VM; removing it detaches the disk (and can delete it).";
    "vm_nics", "network interfaces of the VM", "The virtual network interface cards of a VM.";
    "vm_nic", "network interface of the VM", "One virtual NIC of a VM: its vNIC profile, MAC address and link state; plug and unplug it.";
    "snapshots", "snapshots of the VM", "The saved states of a VM's disks (and optionally memory); adding one takes a new snapshot.";
    "snapshot", "snapshot", "One snapshot of a VM; restore the VM to it or delete it.";
    "clusters", "clusters", "Every cluster: a group of hosts sharing CPU type, networks and migration policy, within one data center.";
    "cluster", "cluster", "One cluster: its CPU type, compatibility version, scheduling and migration settings.";
    "data_centers", "data centers", "Every data center: the top-level grouping of clusters, storage domains and logical networks.";
    "data_center", "data center", "One data center: its compatibility version, storage type and quota mode; reach its storage domains, clusters and networks.";
    "hosts", "hosts", "Every hypervisor host the engine manages; adding one installs and registers it.";
    "host", "host", "One host: its hardware, status and power management; move it in and out of maintenance, install or upgrade it, configure its networks.";
    "storage_domains", "storage domains", "Every storage domain (data, ISO, export, image); adding one creates a domain on NFS, iSCSI, FC, GlusterFS, POSIX or local storage.";
    "storage_domain", "storage domain", "One storage domain: its type, free and used space and status; reach its disks, templates and VMs.";
    "templates", "templates", "Every template VMs are created from; adding one makes a template of an existing VM.";
    "template", "template", "One template: its configuration (as for a VM), its version, its disks and NICs.";
    "networks", "logical networks", "Every logical network of the system; adding one defines it in a data center.";
    "network", "logical network", "One logical network: its VLAN, MTU and usages; reach its vNIC profiles and labels.";
    "vnic_profiles", "vNIC profiles", "Every vNIC profile: the settings (network, QoS, port mirroring, filter) a VM's NIC is connected with.";
    "vnic_profile", "vNIC profile", "One vNIC profile: its network, QoS, network filter and pass-through mode.";
    "users", "users", "The users known to the engine, from its directories; adding one registers a directory user.";
    "user", "user", "One user: its name, directory and principal; reach its permissions, roles, tags and SSH keys.";
    "groups", "groups", "The directory groups known to the engine; adding one registers a directory group, so permissions can be given to all its members.";
    "group", "group", "One directory group: its name and directory; reach its permissions and roles.";
    "roles", "roles", "Every role: a named set of permits (administrator or user roles) given to users and groups on objects.";
    "role", "role", "One role and its permits.";
    "assigned_permissions", "permissions given on this object", "The permissions held on an object (a VM, a cluster, ...) or held by a user or group: each gives a role to a user or group on an object.";
    "permission", "permission", "One permission: a role given to a user or group on an object.";
    "tags", "tags", "Every tag: free labels, in a tree, that hosts, VMs, users and groups can carry and searches can use (`tag=web`).";
    "tag", "tag", "One tag: its name, description and parent.";
    "events", "events", "The audit log: events the engine records (state changes, errors, actions of users); adding one records an external event.";
    "event", "event", "One event of the audit log.";
    "jobs", "jobs", "The engine's record of long-running operations: every job, with its status and steps; adding one records an external job.";
    "job", "job", "One job (a long-running operation) and its status; end or clear it.";
    "image_transfers", "image transfers", "Uploads and downloads of disk images through the image I/O proxy; adding one starts a transfer and gives its URLs.";
    "image_transfer", "image transfer", "One upload or download of a disk image: its phase and URLs; pause, resume, finalize or cancel it.";
];

/// Sentences of actions and signatures, by service and SDK method name.
pub const METHODS: &[(&str, &str, &str)] = &[
    ("system", "reload_configurations", "Makes the engine read again the configuration values that can change without a restart."),
    ("vms", "add_from_scratch", "Creates a VM from the object given, without a template's disks (set its disks with disk attachments)."),
    ("vms", "add_from_snapshot", "Creates a VM from a snapshot of another VM, copying its disks."),
    ("vms", "add_from_configuration", "Creates a VM from a configuration given as data (an exported OVF), as when importing."),
    ("vm", "cancel_migration", "Stops a migration in progress; the VM stays on its source host."),
    ("vm", "commit_snapshot", "Makes the snapshot being previewed permanent: the VM keeps that state and later snapshots go."),
    ("vm", "clone", "Makes a new VM with copies of this VM's configuration and disks."),
    ("vm", "detach", "Takes the VM out of its VM pool."),
    ("vm", "export_to_export_domain", "Exports the VM to an export storage domain."),
    ("vm", "export_to_path_on_host", "Exports the VM as an OVA file to a directory of a host."),
    ("vm", "freeze_filesystems", "Asks the guest agent to freeze the guest's file systems (for a consistent backup)."),
    ("vm", "logon", "Logs the console user into the guest through the guest agent (single sign-on)."),
    ("vm", "maintenance", "Turns maintenance of a hosted-engine VM on or off."),
    ("vm", "migrate", "Moves the running VM to another host (chosen by the scheduler unless one is given)."),
    ("vm", "preview_snapshot", "Runs the VM temporarily from a snapshot's state; commit or undo the preview afterwards."),
    ("vm", "auto_pin_cpu_and_numa_nodes", "Pins the VM's virtual CPUs and NUMA nodes to the host's according to a policy."),
    ("vm", "reboot", "Restarts the guest (through the guest agent or ACPI)."),
    ("vm", "reset", "Resets the VM as a hardware reset button would, without asking the guest."),
    ("vm", "reorder_mac_addresses", "Reorders the MAC addresses of the VM's NICs to follow the NICs' order."),
    ("vm", "shutdown", "Asks the guest operating system to shut down cleanly."),
    ("vm", "start", "Powers the VM on (optionally once with another configuration, paused, or on a given host)."),
    ("vm", "stop", "Powers the VM off at once, as pulling the plug would."),
    ("vm", "suspend", "Saves the VM's memory to storage and stops it; starting it resumes from there."),
    ("vm", "thaw_filesystems", "Undoes `freeze_filesystems`: the guest's file systems take writes again."),
    ("vm", "ticket", "Makes a one-time password (ticket) for the VM's graphical console."),
    ("vm", "undo_snapshot", "Ends a snapshot preview and returns the VM to its state before it."),
    ("vm", "screenshot", "Takes a picture of the VM's screen."),
    ("disks", "add_on_storage_domain", "Creates a floating disk on the storage domain given."),
    ("disks", "add_lun", "Adds a direct LUN disk (a LUN of a storage server used whole as a disk)."),
    ("disk", "copy", "Copies the disk to another storage domain (a new disk)."),
    ("disk", "move", "Moves the disk to another storage domain."),
    ("disk", "sparsify", "Gives back to the storage the space the guest does not use (thin disks)."),
    ("disk", "refresh_lun", "Reads the size of a direct LUN disk again from the storage."),
    ("disk", "reduce", "Shrinks a disk on block storage to the space it really uses."),
    ("disk", "convert", "Changes the disk's format or allocation policy (raw or qcow2, thin or preallocated)."),
    ("disk_attachments", "add_signature1", "Attaches a disk, naming it by its object."),
    ("disk_attachments", "add_providing_disk_id", "Attaches an existing disk, naming it by its id."),
    ("vm_nic", "activate", "Plugs the NIC in (hot-plug on a running VM)."),
    ("vm_nic", "deactivate", "Unplugs the NIC (hot-unplug on a running VM)."),
    ("snapshot", "restore", "Brings the VM back to the snapshot's state (the VM must be down)."),
    ("cluster", "reset_emulated_machine", "Makes every VM of the cluster use the cluster's emulated machine type on its next start."),
    ("cluster", "upgrade", "Marks the start, progress or end of an upgrade of the cluster's hosts."),
    ("cluster", "refresh_gluster_heal_status", "Reads the self-heal status of the cluster's Gluster volumes again."),
    ("data_center", "set_master", "Makes another storage domain the data center's master domain."),
    ("data_center", "clean_finished_tasks", "Removes the records of finished asynchronous tasks of the data center."),
    ("hosts", "add_using_root_password", "Adds a host, logging into it with the root password to install it."),
    ("hosts", "add_using_ssh", "Adds a host, logging into it with SSH (key or password) to install it."),
    ("host", "activate", "Takes the host out of maintenance, so it runs VMs again."),
    ("host", "approve", "Approves a host that registered itself, so the engine manages it."),
    ("host", "approve_using_root_password", "Approves a registered host, logging in with the root password."),
    ("host", "approve_using_ssh", "Approves a registered host, logging in with SSH."),
    ("host", "commit_net_config", "Saves the host's current network configuration so it survives a reboot."),
    ("host", "deactivate", "Puts the host into maintenance: its VMs are migrated away."),
    ("host", "enroll_certificate", "Gives the host a new certificate signed by the engine."),
    ("host", "fence", "Uses the host's power management: restart, start, stop or query its status."),
    ("host", "force_select_spm", "Makes this host the storage pool manager of its data center."),
    ("host", "install", "Installs or reinstalls the engine's software on the host."),
    ("host", "install_using_root_password", "Installs the host, logging in with the root password."),
    ("host", "install_using_ssh", "Installs the host, logging in with SSH."),
    ("host", "iscsi_discover", "Lists the iSCSI targets a portal offers to the host."),
    ("host", "discover_iscsi", "Lists the iSCSI targets (with their portals) a server offers to the host."),
    ("host", "iscsi_login", "Logs the host into an iSCSI target."),
    ("host", "unregistered_storage_domains_discover", "Lists storage domains on a storage server that the engine does not know yet."),
    ("host", "update_using_root_password", "Changes the host, logging in with the root password."),
    ("host", "update_using_ssh", "Changes the host, logging in with SSH."),
    ("host", "upgrade", "Upgrades the host's packages (it goes to maintenance first)."),
    ("host", "upgrade_check", "Checks whether package upgrades are available for the host."),
    ("host", "refresh", "Reads the host's capabilities (devices, networks, storage) again."),
    ("host", "setup_networks", "Changes the host's network configuration (attachments, bonds, labels) in one step."),
    ("host", "copy_host_networks", "Copies the network configuration of another host to this one."),
    ("storage_domains", "add_direct_lun", "Adds a storage domain on a LUN given directly."),
    ("storage_domains", "add_block_domain", "Adds a storage domain on iSCSI or FC LUNs."),
    ("storage_domains", "add_by_path", "Adds a storage domain on a file storage path (NFS, POSIX)."),
    ("storage_domains", "add_local", "Adds a storage domain on a local directory of a host."),
    ("storage_domains", "add_gluster_or_postfs", "Adds a storage domain on a GlusterFS volume or a POSIX file system."),
    ("storage_domain", "is_attached", "Says whether the domain is attached to a data center."),
    ("storage_domain", "update_ovf_store", "Writes the VM and template configurations to the domain's OVF store now."),
    ("storage_domain", "refresh_luns", "Reads the sizes of the domain's LUNs again (after they were grown)."),
    ("storage_domain", "reduce_luns", "Removes LUNs from a block storage domain."),
    ("templates", "add_from_vm", "Makes a template from a VM."),
    ("templates", "add_from_configuration", "Makes a template from a configuration given as data (an exported OVF)."),
    ("templates", "add_from_vm_snapshot", "Makes a template from a snapshot of a VM."),
    ("template", "export_to_export_domain", "Exports the template to an export storage domain."),
    ("template", "export_to_path_on_host", "Exports the template as an OVA file to a directory of a host."),
    ("assigned_permissions", "add_user_level", "Gives a user a role on this object."),
    ("assigned_permissions", "add_group_level", "Gives a group a role on this object."),
    ("assigned_permissions", "add_data_center_permission", "Gives a user or group a role on a data center."),
    ("assigned_permissions", "add_cluster_permission", "Gives a user or group a role on a cluster."),
    ("assigned_permissions", "add_host_permission", "Gives a user or group a role on a host."),
    ("assigned_permissions", "add_storage_domain_permission", "Gives a user or group a role on a storage domain."),
    ("assigned_permissions", "add_vm_permission", "Gives a user or group a role on a VM."),
    ("assigned_permissions", "add_vm_pool_permission", "Gives a user or group a role on a VM pool."),
    ("assigned_permissions", "add_template_permission", "Gives a user or group a role on a template."),
    ("events", "undelete", "Brings back the events that were removed from the audit log view."),
    ("job", "clear", "Removes a finished external job from the list."),
    ("job", "end", "Marks an external job as finished (succeeded or failed)."),
    ("image_transfers", "add_for_image", "Starts a transfer of an image, naming it by image."),
    ("image_transfers", "add_for_disk", "Starts a transfer of a disk (upload to it or download it)."),
    ("image_transfers", "add_for_snapshot", "Starts a transfer of a disk snapshot."),
    ("image_transfer", "extend", "Extends the session of the transfer, so it does not time out."),
    ("image_transfer", "pause", "Pauses the transfer."),
    ("image_transfer", "resume", "Resumes a paused transfer."),
    ("image_transfer", "cancel", "Cancels the transfer; what was written is dropped."),
    ("image_transfer", "finalize", "Ends the transfer after the last byte: the engine checks the image and releases the disk."),
];

/// Sentences of actions that mean the same on every service listed in [`SERVICES`].
pub const SHARED_METHODS: &[(&str, &str)] = &[
    ("export", "Exports the object to an export storage domain."),
    (
        "sync_all_networks",
        "Makes the networks of every host (or of this host) match their definition in the engine.",
    ),
];

/// The prose of service `name`, if it is one of [`SERVICES`].
pub fn service(name: &str) -> Option<&'static ServiceDoc> {
    SERVICES.iter().find(|s| s.name == name)
}

/// One sentence on method `method` (SDK name, `kind`) of service `service`, if the service
/// is one of [`SERVICES`].
pub fn method(service_name: &str, method: &str, kind: MethodKind) -> Option<String> {
    let s = service(service_name)?;
    if let Some((_, _, text)) = METHODS
        .iter()
        .find(|(sv, m, _)| *sv == service_name && *m == method)
    {
        return Some((*text).to_string());
    }
    if let Some((_, text)) = SHARED_METHODS.iter().find(|(m, _)| *m == method) {
        return Some((*text).to_string());
    }
    let what = s.what;
    Some(match kind {
        MethodKind::List => format!("Lists the {what}."),
        MethodKind::Add => {
            format!("Adds one to the {what}; the answer is the new object as the engine made it.")
        }
        MethodKind::Get => format!("Reads the {what}."),
        MethodKind::Update => {
            format!("Changes the {what}: the fields set in the object given are changed, the others stay.")
        }
        MethodKind::Remove => format!("Removes the {what}."),
        MethodKind::Action => return None,
    })
}
